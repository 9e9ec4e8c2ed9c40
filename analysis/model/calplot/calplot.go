// Package calplot draws reliability diagrams (calibration plots) of
// predictors with gonum/plot: mean predicted probability against observed
// rate per bin, with the diagonal of perfect calibration.
package calplot

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/schemacanary/schemacanary/analysis/model"
)

// Curve is one predictor's calibration bins, with optional intervals of
// the observed rate (Lo, Hi: one per bin) drawn as error bars.
type Curve struct {
	Name   string
	Bins   []model.CalibrationBin
	Lo, Hi []float64
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// SaveEvaluation draws the leave-one-template-out calibration of the model
// and the baselines of an evaluation into path, with the model's 95%
// interval of the observed rate per bin as error bars.
func SaveEvaluation(path string, ev *model.Evaluation) error {
	if ev == nil || ev.Model("template") == nil {
		return errors.New("calplot: the evaluation has no leave-one-template-out result")
	}
	var curves []Curve
	for _, r := range ev.Results {
		if r.By != "template" {
			continue
		}
		c := Curve{Name: r.Name}
		for _, b := range r.Calibration {
			c.Bins = append(c.Bins, b.CalibrationBin)
			if r.Name == "model" {
				c.Lo, c.Hi = append(c.Lo, b.ObservedLo), append(c.Hi, b.ObservedHi)
			}
		}
		curves = append(curves, c)
	}
	return Save(path, fmt.Sprintf("calibration on unseen templates (%d examples, %d templates)", ev.Examples, ev.Templates), curves)
}

// Save draws the curves into path; the extension chooses the format (.png
// or .svg).
func Save(path, title string, curves []Curve) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".png" && ext != ".svg" {
		return fmt.Errorf("calplot: %s: want a .png or .svg file", path)
	}
	if len(curves) == 0 {
		return errors.New("calplot: no curves")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "predicted probability of a safe deployment"
	p.Y.Label.Text = "observed safe rate"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	diag := plotter.NewFunction(func(x float64) float64 { return x })
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	diag.Color = color.Gray{Y: 0x80}
	p.Add(diag)
	p.Legend.Add("perfect calibration", diag)
	p.Legend.Top = false
	p.Legend.Left = false // bottom right: the corner a calibration curve leaves empty
	for i, c := range curves {
		pts := make(plotter.XYs, 0, len(c.Bins))
		for _, b := range c.Bins {
			pts = append(pts, plotter.XY{X: b.MeanPredicted, Y: b.Observed})
		}
		if len(pts) == 0 {
			continue
		}
		line, scatter, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("calplot: %s: %w", c.Name, err)
		}
		col := palette[i%len(palette)]
		line.Color = col
		line.Width = vg.Points(1.5)
		scatter.Color = col
		scatter.Shape = draw.CircleGlyph{}
		scatter.Radius = vg.Points(3)
		p.Add(line, scatter)
		p.Legend.Add(c.Name, line, scatter)
		if len(c.Lo) == len(c.Bins) && len(c.Lo) > 0 {
			errs := make(plotter.YErrors, len(c.Bins))
			for k, b := range c.Bins {
				errs[k].Low, errs[k].High = b.Observed-c.Lo[k], c.Hi[k]-b.Observed
			}
			bars, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{pts, errs})
			if err != nil {
				return fmt.Errorf("calplot: %s: %w", c.Name, err)
			}
			bars.Color = col
			p.Add(bars)
		}
	}
	if err := p.Save(6*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("calplot: save %s: %w", path, err)
	}
	return nil
}
