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

// Curve is one predictor's calibration bins.
type Curve struct {
	Name string
	Bins []model.CalibrationBin
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// SaveComparison draws the held-out calibration of a comparison's chosen
// variant (the model and the baselines it was compared with) into path.
func SaveComparison(path string, cmp *model.Comparison) error {
	if cmp == nil || cmp.Best < 0 || cmp.Best >= len(cmp.Evaluations) || cmp.Evaluations[cmp.Best] == nil {
		return errors.New("calplot: the comparison has no chosen evaluation")
	}
	ev := cmp.Evaluations[cmp.Best]
	curves := make([]Curve, 0, len(ev.Results))
	for _, r := range ev.Results {
		curves = append(curves, Curve{Name: r.Name, Bins: r.Calibration})
	}
	return Save(path, fmt.Sprintf("held-out calibration (%d examples, %d unseen templates)", ev.HeldOutExamples, len(ev.HeldOutGroups)), curves)
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
	}
	if err := p.Save(6*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("calplot: save %s: %w", path, err)
	}
	return nil
}
