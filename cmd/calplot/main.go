// Command calplot draws the held-out calibration plot (a reliability
// diagram: predicted probability of a safe deployment against the observed
// safe rate, for the model and its baselines) from the evaluation that
// `schemacanary train --eval-json FILE` writes. make lab runs it to
// regenerate docs/calibration.png.
//
//	go run ./cmd/calplot -in eval.json -out docs/calibration.png
//
// It is a separate program so that the schemacanary binary does not carry
// a plotting library and its fonts, which every run would pay for at
// start-up.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/analysis/model/calplot"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "calplot:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("calplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "-", "evaluation JSON from schemacanary train --eval-json (- for standard input)")
	out := fs.String("out", "", "plot to write (.png or .svg); required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("usage: calplot [-in eval.json] -out plot.png")
	}
	r := stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var ev model.Evaluation
	if err := json.NewDecoder(r).Decode(&ev); err != nil {
		return fmt.Errorf("read evaluation %s: %w", *in, err)
	}
	return calplot.SaveEvaluation(*out, &ev)
}
