package gitsrc

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	// GitHub merge commits: "Merge pull request #12 from org/branch".
	mergePRRe = regexp.MustCompile(`^Merge pull request #(\d+)\b`)
	// Squash and rebase merges: the PR title ends with " (#12)".
	squashPRRe = regexp.MustCompile(`\(#(\d+)\)\s*$`)
	// GitLab merge commits: "See merge request group/project!12".
	gitlabMRRe = regexp.MustCompile(`(?m)^See merge request \S+!(\d+)\s*$`)
)

// PRNumber returns the pull-request number a merge commit message names, or
// 0: "Merge pull request #12 from …" (merge commit), "Add note (#12)" on the
// first line (squash or rebase merge), or GitLab's "See merge request g/p!12".
func PRNumber(message string) int {
	first, _, _ := strings.Cut(strings.TrimSpace(message), "\n")
	for _, re := range []*regexp.Regexp{mergePRRe, squashPRRe} {
		if m := re.FindStringSubmatch(first); m != nil {
			n, err := strconv.Atoi(m[1])
			if err == nil {
				return n
			}
		}
	}
	if m := gitlabMRRe.FindStringSubmatch(message); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	return 0
}
