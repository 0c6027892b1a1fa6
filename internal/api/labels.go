package api

import (
	"fmt"
	"strings"
)

// ParseLabels reads labels written as key=value: the API's label filters
// (?label=env=prod), the CLI's --label flags and `hosts label` arguments,
// and the console's label fields once split. A pair without "=" or with an
// empty key is an error naming it. No pairs give a nil map.
func ParseLabels(pairs []string) (map[string]string, error) {
	var labels map[string]string
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q must be key=value", p)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[k] = v
	}
	return labels, nil
}
