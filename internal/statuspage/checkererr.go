package statuspage

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CheckLocal is the status of a check that could not run for a reason of
// the checking process's own, such as running out of file descriptors: a
// checker error, which says nothing of the target.
const CheckLocal = "LOCAL"

// CheckerErrorsNotice is the page's notice of checker errors counted by
// reason: "checker errors: 12 (emfile)", or "checker errors: 15 (emfile
// 12, enobufs 3)" with several reasons; "" when there were none.
func CheckerErrorsNotice(counts map[string]uint64) string {
	var total uint64
	var parts []string
	reasons := slices.Sorted(maps.Keys(counts))
	for _, r := range reasons {
		if counts[r] == 0 {
			continue
		}
		total += counts[r]
		parts = append(parts, fmt.Sprintf("%s %d", r, counts[r]))
	}
	switch {
	case total == 0:
		return ""
	case len(parts) == 1:
		return fmt.Sprintf("checker errors: %d (%s)", total, strings.Fields(parts[0])[0])
	}
	return fmt.Sprintf("checker errors: %d (%s)", total, strings.Join(parts, ", "))
}
