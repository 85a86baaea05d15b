package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// binaryPath returns where the binary is compiled, and a function that
// releases it. With a cache, the path is stable for the package and platform,
// so that go build finds its previous output up to date and skips the link;
// an exclusive lock keeps concurrent builds of the same target apart until
// the binary is in the layer cache. Without one, it is in work.
func binaryPath(o Options, src source, p v1.Platform, work string) (string, func(), error) {
	if o.CacheDir == "" {
		return filepath.Join(work, src.name), func() {}, nil
	}
	key := sha256.Sum256([]byte(src.pkgDir + "\x00" + p.String()))
	dir := filepath.Join(o.CacheDir, "bin", hex.EncodeToString(key[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("making the binary cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", nil, fmt.Errorf("locking the binary cache: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		_ = lock.Close()
		return "", nil, fmt.Errorf("locking the binary cache: %w", err)
	}
	unlock := func() {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		_ = lock.Close()
	}
	return filepath.Join(dir, src.name), unlock, nil
}
