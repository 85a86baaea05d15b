package registry

import (
	"strings"
	"testing"
)

func TestValidateTag(t *testing.T) {
	for tag, ok := range map[string]bool{
		"v1.2.0": true, "git-abc1234": true, "latest": true, "_x": true,
		"": false, ".x": false, "-x": false, "a/b": false, "a+b": false, strings.Repeat("a", 129): false,
	} {
		if err := ValidateTag(tag); (err == nil) != ok {
			t.Errorf("ValidateTag(%q) = %v, want ok=%v", tag, err, ok)
		}
	}
}
