package build

import (
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/buildercli/builder/internal/base"
)

// TestSharedReadsAccountsOnce: the services of a run on one base read its
// accounts once; another base is read on its own, and a failed read is
// not remembered.
func TestSharedReadsAccountsOnce(t *testing.T) {
	var s Shared
	reads := 0
	read := func(acc *base.Accounts, err error) func() (*base.Accounts, error) {
		return func() (*base.Accounts, error) {
			reads++
			return acc, err
		}
	}
	a, b := v1.Hash{Algorithm: "sha256", Hex: "aa"}, v1.Hash{Algorithm: "sha256", Hex: "bb"}
	want := &base.Accounts{}
	for range 3 {
		got, err := s.baseAccounts(a, read(want, nil))
		if err != nil || got != want {
			t.Fatalf("baseAccounts(a) = %p, %v; want %p", got, err, want)
		}
	}
	if reads != 1 {
		t.Errorf("one base, three services: %d reads, want 1", reads)
	}
	if _, err := s.baseAccounts(b, read(nil, errors.New("broken layer"))); err == nil {
		t.Error("a failed read gave no error")
	}
	other := &base.Accounts{}
	if got, err := s.baseAccounts(b, read(other, nil)); err != nil || got != other {
		t.Errorf("after a failed read, baseAccounts(b) = %p, %v; want %p", got, err, other)
	}
	if reads != 3 {
		t.Errorf("%d reads, want 3: the failure is read again", reads)
	}
}
