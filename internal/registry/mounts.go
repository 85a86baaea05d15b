package registry

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/atomicfile"
)

// Mounts remembers, on disk, a repository of each registry where a blob was
// pushed, so that pushing it to another repository of the same registry
// mounts it instead of sending it again. The zero value remembers nothing.
type Mounts struct {
	// Dir holds one small file per registry and blob.
	Dir string
}

// maxMountRecord bounds the size of a record read back: a repository name.
const maxMountRecord = 4 << 10

func (m Mounts) path(reg string, d v1.Hash) string {
	return filepath.Join(m.Dir, url.PathEscape(reg), d.Algorithm+"-"+d.Hex)
}

// Lookup returns a repository of repo's registry other than repo that has
// the blob d, as far as Mounts knows.
func (m Mounts) Lookup(repo name.Repository, d v1.Hash) (name.Repository, bool) {
	if m.Dir == "" {
		return name.Repository{}, false
	}
	data, err := atomicfile.ReadRegular(m.path(repo.RegistryStr(), d), maxMountRecord)
	if err != nil {
		return name.Repository{}, false
	}
	src := strings.TrimSpace(string(data))
	if src == repo.RepositoryStr() || src == "" {
		return name.Repository{}, false
	}
	return repo.Repo(src), true
}

// Record notes that repo has the blob d.
func (m Mounts) Record(repo name.Repository, d v1.Hash) error {
	if m.Dir == "" {
		return nil
	}
	p := m.path(repo.RegistryStr(), d)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("recording blob %s: %w", d, err)
	}
	return atomicfile.ReplaceFile(p, []byte(repo.RepositoryStr()+"\n"))
}
