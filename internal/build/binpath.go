package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/lockfile"
)

// binaryPath returns where the binary is compiled, and a function that
// releases it. With a cache, the path is stable for the package and platform,
// so that go build finds its previous output up to date and skips the link;
// an exclusive lock keeps concurrent builds of the same target apart until
// the binary is in the layer cache. Without one, it is in work.
func binaryPath(o Options, src source, p v1.Platform, work string) (string, func(), error) {
	if o.CacheDir == "" {
		dir := filepath.Join(work, strings.ReplaceAll(p.String(), "/", "-"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("making a build directory: %w", err)
		}
		return filepath.Join(dir, src.name), func() {}, nil
	}
	key := sha256.Sum256([]byte(src.pkgDir + "\x00" + p.String()))
	dir := filepath.Join(o.CacheDir, "bin", hex.EncodeToString(key[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("making the binary cache: %w", err)
	}
	unlock, err := lockfile.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, src.name), unlock, nil
}
