package build

import (
	"fmt"
	"strconv"
	"time"

	"github.com/buildercli/builder/internal/imagespec"
	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/layers"
	"github.com/buildercli/builder/internal/vcs"
)

// defaultLdflags are used when .ko.yaml has no build for the package: strip
// symbols. Version variables are the service's to name, in its ldflags.
var defaultLdflags = []string{"-s -w"}

// meta is what a build knows of its source.
type meta struct {
	version string
	tag     string
	created time.Time
	git     vcs.Info
}

// readMeta settles the version, tag and creation time. The clock is never
// read: the time is SOURCE_DATE_EPOCH, else the commit's, else the epoch.
// maxEpoch is the last second an RFC 3339 time can name: 9999-12-31T23:59:59Z.
const maxEpoch = 253402300799

func readMeta(o Request, env Env, git vcs.Info) (meta, error) {
	m := meta{git: git, version: o.Tag, created: layers.Epoch}
	switch {
	case m.version != "":
	case git.Repo:
		m.version = git.Describe
	default:
		m.version = "dev"
	}
	m.tag = o.Tag
	if m.tag == "" {
		m.tag = sanitizeTag(m.version)
	}
	switch {
	case env.SourceDateEpoch != "":
		secs, err := strconv.ParseInt(env.SourceDateEpoch, 10, 64)
		if err != nil || secs < 0 || secs > maxEpoch {
			return meta{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a count of seconds since 1970 (0 to %d)", env.SourceDateEpoch, maxEpoch)
		}
		m.created = time.Unix(secs, 0).UTC()
	case git.Repo:
		m.created = git.Time
	default:
		env.Shared.note(env.Log, "not a git checkout and no SOURCE_DATE_EPOCH: the image is dated 1970-01-01")
	}
	return m, nil
}

// templateData is what .ko.yaml templates see.
func (m meta) templateData(env []string) koconfig.Data {
	date := m.created.Format(time.RFC3339)
	ts := strconv.FormatInt(m.created.Unix(), 10)
	state := "clean"
	if m.git.Dirty {
		state = "dirty"
	}
	commit := m.git.Commit
	if commit == "" {
		commit = "unknown"
	}
	return koconfig.Data{
		Env:       koconfig.EnvMap(env),
		Date:      date,
		Timestamp: ts,
		Git: koconfig.Git{
			Branch: m.git.Branch, Tag: m.version, ShortCommit: m.git.ShortCommit, FullCommit: commit,
			CommitDate: date, CommitTimestamp: ts,
			IsDirty: m.git.Dirty, IsClean: !m.git.Dirty, TreeState: state,
		},
	}
}

// facts are what the labels say of an image built on the base image of
// digest baseDigest.
func (pl *Planned) facts(baseDigest string) imagespec.Facts {
	m := pl.meta
	return imagespec.Facts{Title: pl.svc.name, Version: m.version, Revision: m.git.Commit, Source: m.git.Source,
		Created: m.created, BaseName: pl.base.Name, BaseDigest: baseDigest}
}
