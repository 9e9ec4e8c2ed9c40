package analysis

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Output formats understood by WriteReports.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatGitHub = "github"
	FormatSARIF  = "sarif"
)

// Formats lists the output formats.
var Formats = []string{FormatText, FormatJSON, FormatGitHub, FormatSARIF}

// WriteReports renders reports in one of Formats:
//
//   - text: one line per finding, "file:line:col: rule-id: message"
//   - json: the reports as a JSON array
//   - github: GitHub Actions workflow commands (::error file=…,line=…::…)
//   - sarif: SARIF 2.1.0 for code scanning, with every rule described
func WriteReports(w io.Writer, format string, reports []*Report) error {
	switch format {
	case FormatText:
		for _, r := range reports {
			for _, f := range r.Findings {
				if _, err := fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", f.File, f.Line, max(f.Column, 1), f.RuleID, f.Message); err != nil {
					return fmt.Errorf("write text: %w", err)
				}
			}
		}
		return nil
	case FormatJSON:
		if reports == nil {
			reports = []*Report{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	case FormatGitHub:
		for _, r := range reports {
			for _, f := range r.Findings {
				level := map[Severity]string{SeverityError: "error", SeverityWarning: "warning", SeverityInfo: "notice"}[f.Severity]
				if _, err := fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d,title=%s::%s\n", level,
					ghProperty(f.File), max(f.Line, 1), max(f.Column, 1), ghProperty(f.RuleID), ghData(f.Message+" Fix: "+f.Fix)); err != nil {
					return fmt.Errorf("write github: %w", err)
				}
			}
		}
		return nil
	case FormatSARIF:
		return writeSARIF(w, reports)
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string    `json:"id"`
	ShortDescription     sarifText `json:"shortDescription"`
	FullDescription      sarifText `json:"fullDescription"`
	Help                 sarifText `json:"help"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region struct {
			StartLine   int `json:"startLine"`
			StartColumn int `json:"startColumn"`
		} `json:"region"`
	} `json:"physicalLocation"`
}

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

func writeSARIF(w io.Writer, reports []*Report) error {
	rules := Rules()
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	index := map[string]int{}
	driver := sarifDriver{Name: "schemacanary", InformationURI: "https://github.com/schemacanary/schemacanary"}
	for i, r := range rules {
		index[r.ID] = i
		sr := sarifRule{ID: r.ID, ShortDescription: sarifText{r.Summary}, FullDescription: sarifText{r.Why},
			Help: sarifText{"Fix: " + r.Fix + " See docs/rules/" + r.ID + ".md"}}
		sr.DefaultConfiguration.Level = sarifLevel(r.Severity)
		driver.Rules = append(driver.Rules, sr)
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	for _, r := range reports {
		for _, f := range r.Findings {
			res := sarifResult{RuleID: f.RuleID, RuleIndex: index[f.RuleID], Level: sarifLevel(f.Severity),
				Message: sarifText{f.Message + " Fix: " + f.Fix}}
			var loc sarifLocation
			loc.PhysicalLocation.ArtifactLocation.URI = f.File
			loc.PhysicalLocation.Region.StartLine = max(f.Line, 1)
			loc.PhysicalLocation.Region.StartColumn = max(f.Column, 1)
			res.Locations = []sarifLocation{loc}
			run.Results = append(run.Results, res)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json", Runs: []sarifRun{run}}); err != nil {
		return fmt.Errorf("write sarif: %w", err)
	}
	return nil
}
