// Package gocache is a Go build cache program (GOCACHEPROG) that keeps entries on local disk first and in a registry repository second.
//
// # Local entries
//
// Under Store.Dir, outputs are files named by their OutputID (the SHA-256
// of their content) in o/, and each action has an index file in a/ naming
// its output, size and time. Every file is written to a temporary name and
// renamed, so several go commands, several runners on one machine and
// Upload may share one Dir: nothing half-written is ever read. An entry
// put while Repo is set leaves a marker in pending/ for Upload; Serve never
// uploads, so that the registry never delays a build.
//
// # Remote entries
//
// An entry in Repo is one tag per action, the action ID in hex, pointing at
// an OCI image manifest of artifactType ArtifactType with the empty config
// and one layer of media type OutputMediaType whose digest is
// sha256:<OutputID>; the annotation ActionAnnotation repeats the action ID
// and is checked on read against the action asked for. A get is one
// manifest GET and one blob GET. The first failure to reach Repo
// (connection refused, timeout, 401/403, 5xx) turns it off for the rest of
// that Serve, and for the Serves that start while its note waits (the
// other go commands of one build, Store.Run), leaving a note for TakeNotes: the build
// goes on with the local cache alone, and never fails because of the
// registry. Each request has a deadline of a few seconds and is not
// retried, so a stalled registry costs one deadline.
//
// # Prefetch
//
// A Serve with Repo set lists, in used/, the actions the go command asked
// for, in the order it first did, under its run's name (Store.Run), as it
// names its notes: runs sharing Dir at once keep both apart. Upload, when
// Store.Index names the kind of build, merges its run's lists and puts them in Repo as an index: tag
// IndexTag(Index), an OCI image manifest of artifactType
// IndexArtifactType with the empty config and one layer of media type
// IndexMediaType (the action IDs in hex, one a line, gzipped), the
// annotation IndexAnnotation holding the SHA-256 of Index; only actions
// whose entries are in Repo are listed, and no index is put when pushing
// an entry failed. Prefetch, on a runner whose Dir lacks them, fetches the
// index's entries many at a time, in its order, so that the go command,
// which asks for an entry only when its action is ready to run, finds
// most on disk; it can run beside the build's Serves. A missing or
// corrupt index fetches nothing; each entry is verified as a get's.
//
// # Trust
//
// Whoever can push to the cache repository can influence builds: they can
// bind any action to any output whose digest matches what they upload, and
// the go command will link that output into binaries. Give push rights only
// to CI of the same trust as releases, and read-only access to the rest.
// Readers verify each output against its SHA-256 and size, which catches
// corruption in transit or storage, but cannot tell a planted output from
// an honest one.
//
// # Expiry
//
// Local entries not used for 5 days are trimmed (a use touches an entry at
// most once an hour, like Go's own cache, and a trim runs at most once a
// day, when a Serve closes). Remote entries never expire by themselves:
// the registry's retention policy, or deleting the repository (or its old
// tags), does that.
package gocache
