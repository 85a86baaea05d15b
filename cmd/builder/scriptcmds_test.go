package main

// The commands testscript scripts get besides its own: they look at the
// script's registry and at builder's output where the script language
// alone cannot (it has no jq and no variables set from output).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/buildercli/builder/internal/registrytest"
)

// registryKey is the Env.Values key of the script's registry.
type registryKey struct{}

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"capture":     cmdCapture,
	"jsonfield":   cmdJSONField,
	"regtags":     cmdRegTags,
	"requireauth": cmdRequireAuth,
	"refusetags":  cmdRefuseTags,
}

func scriptRegistry(ts *testscript.TestScript) *registrytest.Registry {
	return ts.Value(registryKey{}).(*registrytest.Registry)
}

// cmdCapture: capture NAME REGEXP FILE sets $NAME to the first group of
// REGEXP's first match in FILE (stdout and stderr are the last command's).
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: capture NAME REGEXP FILE")
	}
	re, err := regexp.Compile(`(?m)` + args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[2]))
	if len(m) < 2 {
		ts.Fatalf("no match for %#q (with a group) in %s", args[1], args[2])
	}
	ts.Setenv(args[0], m[1])
}

// cmdJSONField: jsonfield [-re] FILE PATH WANT checks that FILE holds one
// JSON document whose value at PATH (keys and array indexes joined by
// dots) is WANT, or with -re matches the regexp WANT. A string is compared
// as is, anything else as compact JSON (object keys sorted).
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	re := len(args) > 0 && args[0] == "-re"
	if re {
		args = args[1:]
	}
	if len(args) != 3 {
		ts.Fatalf("usage: jsonfield [-re] FILE PATH WANT")
	}
	var doc any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &doc))
	got, err := jsonPath(doc, args[1])
	ts.Check(err)
	ok := got == args[2]
	if re {
		want, err := regexp.Compile(args[2])
		ts.Check(err)
		ok = want.MatchString(got)
	}
	switch {
	case ok && neg:
		ts.Fatalf("%s: %s is %s", args[0], args[1], got)
	case !ok && !neg:
		ts.Fatalf("%s: %s is %s, want %s", args[0], args[1], got, args[2])
	}
}

// jsonPath renders the value at path in doc.
func jsonPath(doc any, path string) (string, error) {
	v := doc
	for _, step := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[step]
			if !ok {
				return "", fmt.Errorf("no %q in %s", step, path)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(c) {
				return "", fmt.Errorf("no element %q in %s (%d elements)", step, path, len(c))
			}
			v = c[i]
		default:
			return "", fmt.Errorf("%s: %q is inside a %T", path, step, v)
		}
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// cmdRegTags: regtags PATH prints "TAG DIGEST" for each tag of the script's
// registry's repository PATH, sorted; nothing when there is no such
// repository. It asks the registry directly, past its credentials.
func cmdRegTags(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: regtags PATH")
	}
	stdout := ts.Stdout() // the output is this command's, even when empty
	repo, err := name.NewRepository(scriptRegistry(ts).Direct+"/"+args[0], name.Insecure)
	ts.Check(err)
	tags, err := remote.List(repo, remote.WithAuth(authn.Anonymous))
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return
	}
	ts.Check(err)
	sort.Strings(tags)
	for _, t := range tags {
		desc, err := remote.Head(repo.Tag(t), remote.WithAuth(authn.Anonymous))
		ts.Check(err)
		fmt.Fprintf(stdout, "%s %s\n", t, desc.Digest)
	}
}

// cmdRequireAuth: requireauth USER PASSWORD makes the script's registry
// demand basic auth with USER and PASSWORD from then on.
func cmdRequireAuth(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: requireauth USER PASSWORD")
	}
	scriptRegistry(ts).RequireAuth(args[0], args[1])
}

// cmdRefuseTags: refusetags N makes the script's registry answer the next N
// PUTs of a manifest by tag with 403.
func cmdRefuseTags(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: refusetags N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	scriptRegistry(ts).Inject(registrytest.Fault{Method: http.MethodPut, Kind: registrytest.KindManifestTag, N: n, Status: http.StatusForbidden})
}
