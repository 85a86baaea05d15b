package build

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/buildercli/builder/internal/koconfig"
	"github.com/buildercli/builder/internal/layers"
	"github.com/buildercli/builder/internal/vcs"
)

// OCI label keys builder writes.
const (
	LabelTitle      = "org.opencontainers.image.title"
	LabelVersion    = "org.opencontainers.image.version"
	LabelRevision   = "org.opencontainers.image.revision"
	LabelCreated    = "org.opencontainers.image.created"
	LabelSource     = "org.opencontainers.image.source"
	LabelBaseName   = "org.opencontainers.image.base.name"
	LabelBaseDigest = "org.opencontainers.image.base.digest"
)

// derivedLabels come from the build itself; --label may not override them,
// or the image would lie about what it is.
var derivedLabels = map[string]bool{LabelVersion: true, LabelRevision: true,
	LabelCreated: true, LabelBaseName: true, LabelBaseDigest: true}

// defaultLdflags are used when .ko.yaml has no build for the package: strip
// symbols and inject the version variables of package main.
var defaultLdflags = []string{
	"-s -w",
	"-X main.version={{.Git.Tag}}",
	"-X main.commit={{.Git.FullCommit}}",
	"-X main.date={{.Git.CommitDate}}",
}

// meta is what a build knows of its source.
type meta struct {
	version string
	tag     string
	created time.Time
	git     vcs.Info
}

// readMeta settles the version, tag and creation time. The clock is never
// read: the time is SOURCE_DATE_EPOCH, else the commit's, else the epoch.
func readMeta(o *Options, git vcs.Info, log io.Writer) (meta, error) {
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
	case o.SourceDateEpoch != "":
		secs, err := strconv.ParseInt(o.SourceDateEpoch, 10, 64)
		if err != nil || secs < 0 {
			return meta{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a count of seconds since 1970", o.SourceDateEpoch)
		}
		m.created = time.Unix(secs, 0).UTC()
	case git.Repo:
		m.created = git.Time
	default:
		fmt.Fprintln(log, "note: not a git checkout and no SOURCE_DATE_EPOCH: the image is dated 1970-01-01")
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

// labels returns the image labels: builder's own, then the user's.
func (m meta) labels(title, baseName, baseDigest string, extra []string) map[string]string {
	l := map[string]string{
		LabelTitle:      title,
		LabelVersion:    m.version,
		LabelCreated:    m.created.Format(time.RFC3339),
		LabelBaseName:   baseName,
		LabelBaseDigest: baseDigest,
	}
	if m.git.Commit != "" {
		l[LabelRevision] = m.git.Commit
	}
	if m.git.Source != "" {
		l[LabelSource] = m.git.Source
	}
	for k, v := range koconfig.EnvMap(extra) {
		l[k] = v
	}
	return l
}
