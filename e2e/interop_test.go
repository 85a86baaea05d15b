package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkopeoCopyKeepsIndexDigest: skopeo copy --all, with and without
// --preserve-digests, copies a two-platform index to another layout with
// the digest builder printed.
func TestSkopeoCopyKeepsIndexDigest(t *testing.T) {
	b := built(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "layout")
	d, err := b.image("--platform", "linux/amd64,linux/arm64", "--oci-layout", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{{"--all"}, {"--all", "--preserve-digests"}} {
		to := filepath.Join(t.TempDir(), "copy")
		mustRun(t, "skopeo", append(append([]string{"copy", "--quiet"}, flags...), "oci:"+dir+":"+tag, "oci:"+to+":copy")...)
		raw := mustRun(t, "skopeo", "inspect", "--raw", "oci:"+to+":copy")
		sum := sha256.Sum256([]byte(raw))
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != d {
			t.Errorf("skopeo copy %s: the copy's index is %s, builder printed %s\n%s", strings.Join(flags, " "), got, d, raw)
		}
	}
}
