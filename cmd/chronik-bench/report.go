package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chronik/chronik/benchmarks"
)

// cmdReport draws REPORT.md and the plots of a results directory again from
// its results.json (after a change to the report code).
func cmdReport(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: chronik-bench report DIR (a results directory with results.json)")
	}
	b, err := os.ReadFile(filepath.Join(args[0], "results.json"))
	if err != nil {
		return err
	}
	var res benchmarks.Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s/results.json: %w", args[0], err)
	}
	if err := writeReport(args[0], &res); err != nil {
		return err
	}
	fmt.Printf("wrote %s/{REPORT.md,*.svg}\n", args[0])
	return nil
}
