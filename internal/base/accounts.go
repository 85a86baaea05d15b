package base

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Accounts are the users and groups an image's /etc/passwd and /etc/group
// name, by name.
type Accounts struct {
	// Users maps a user name to its uid and primary gid.
	Users map[string][2]int
	// Groups maps a group name to its gid.
	Groups map[string]int
	// ByUID maps a uid to its primary gid.
	ByUID map[int]int
}

// maxAccountFile bounds what is read of /etc/passwd or /etc/group.
const maxAccountFile = 4 << 20

// ReadAccounts reads /etc/passwd and /etc/group from img's layers, the
// topmost that has each (a whiteout or an opaque /etc hides those below).
// An image without them has no accounts.
func ReadAccounts(img v1.Image) (*Accounts, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the base's layers: %w", err)
	}
	files := map[string][]byte{}
	hidden := map[string]bool{}
	for i := len(ls) - 1; i >= 0 && len(files)+len(hidden) < 2; i-- {
		if err := scanLayer(ls[i], files, hidden); err != nil {
			return nil, fmt.Errorf("reading /etc/passwd of the base: %w", err)
		}
	}
	return parseAccounts(string(files["etc/passwd"]), string(files["etc/group"])), nil
}

// scanLayer records in files the account files l holds that no layer above
// held or hid, and in hidden those it hides.
func scanLayer(l v1.Layer, files map[string][]byte, hidden map[string]bool) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	found := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(name)
		switch {
		case name == "etc/.wh..wh..opq":
			for _, f := range []string{"etc/passwd", "etc/group"} {
				if _, ok := files[f]; !ok && !found[f] {
					hidden[f] = true
				}
			}
		case dir == "etc/" && (base == ".wh.passwd" || base == ".wh.group"):
			f := "etc/" + strings.TrimPrefix(base, ".wh.")
			if _, ok := files[f]; !ok {
				hidden[f] = true
			}
		case (name == "etc/passwd" || name == "etc/group") && h.Typeflag == tar.TypeReg:
			if _, ok := files[name]; ok || hidden[name] {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(tr, maxAccountFile+1))
			if err != nil {
				return err
			}
			if len(data) > maxAccountFile {
				return fmt.Errorf("/%s is over %d bytes", name, maxAccountFile)
			}
			found[name] = true
			files[name] = data
		}
	}
	return nil
}

func parseAccounts(passwd, group string) *Accounts {
	a := &Accounts{Users: map[string][2]int{}, Groups: map[string]int{}, ByUID: map[int]int{}}
	for _, f := range fields(passwd, 4) {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil {
			if _, dup := a.Users[f[0]]; !dup {
				a.Users[f[0]] = [2]int{uid, gid}
			}
			if _, dup := a.ByUID[uid]; !dup {
				a.ByUID[uid] = gid
			}
		}
	}
	for _, f := range fields(group, 3) {
		if gid, err := strconv.Atoi(f[2]); err == nil {
			if _, dup := a.Groups[f[0]]; !dup {
				a.Groups[f[0]] = gid
			}
		}
	}
	return a
}

// fields splits the lines of an account file into colon-separated fields,
// keeping lines with at least n.
func fields(s string, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), maxAccountFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= n {
			out = append(out, f)
		}
	}
	return out
}

// Resolve turns "user[:group]", names or numbers, into the numeric
// "uid:gid" an image's config is written with: names from a's files; a
// uid without a group gets its primary group from /etc/passwd, else a
// group of the same number. An unknown name is an error.
func (a *Accounts) Resolve(user string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(user, ":")
	uid, uidOK := ParseID(u)
	if !uidOK {
		e, ok := a.Users[u]
		if !ok {
			return 0, 0, fmt.Errorf("user %q is not in the base's /etc/passwd: use one it has, or a numeric uid[:gid]", u)
		}
		uid, gid = e[0], e[1]
	} else if pg, ok := a.ByUID[uid]; ok {
		gid = pg
	} else {
		gid = uid
	}
	if !hasGroup {
		return uid, gid, nil
	}
	if n, ok := ParseID(g); ok {
		return uid, n, nil
	}
	n, ok := a.Groups[g]
	if !ok {
		return 0, 0, fmt.Errorf("group %q is not in the base's /etc/group: use one it has, or a numeric gid", g)
	}
	return uid, n, nil
}

// ParseID reads a numeric uid or gid in any spelling a runtime may accept
// ("0", "00", "+0"), so that no spelling of root passes for another user.
func ParseID(s string) (int, bool) {
	t := strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-"), "0")
	if s == "" || strings.Trim(s, "+-0123456789") != "" || strings.Count(s, "+")+strings.Count(s, "-") > 1 ||
		strings.LastIndexAny(s, "+-") > 0 {
		return 0, false
	}
	if t == "" {
		return 0, true
	}
	n, err := strconv.Atoi(t)
	if err != nil || n > 1<<31-1 {
		return 0, false
	}
	if strings.HasPrefix(s, "-") {
		return -n, true
	}
	return n, true
}

// BuiltinAccounts are the built-in base's.
func BuiltinAccounts() *Accounts { return parseAccounts(passwd, group) }
