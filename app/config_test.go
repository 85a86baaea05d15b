package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadConfig(t *testing.T) {
	defaults := config{Port: 8080, GinMode: "release", ShutdownTimeout: 10 * time.Second}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: defaults},
		{
			name: "all set",
			env:  map[string]string{"PORT": "9000", "GIN_MODE": "debug", "SHUTDOWN_TIMEOUT": "1m30s"},
			want: config{Port: 9000, GinMode: "debug", ShutdownTimeout: 90 * time.Second},
		},
		{name: "PORT not a number", env: map[string]string{"PORT": "eighty"}, wantErr: `invalid PORT "eighty"`},
		{name: "PORT zero", env: map[string]string{"PORT": "0"}, wantErr: `invalid PORT "0"`},
		{name: "PORT too large", env: map[string]string{"PORT": "65536"}, wantErr: `invalid PORT "65536"`},
		{name: "GIN_MODE unknown", env: map[string]string{"GIN_MODE": "prod"}, wantErr: `invalid GIN_MODE "prod"`},
		{name: "SHUTDOWN_TIMEOUT no unit", env: map[string]string{"SHUTDOWN_TIMEOUT": "10"}, wantErr: `invalid SHUTDOWN_TIMEOUT "10"`},
		{name: "SHUTDOWN_TIMEOUT negative", env: map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, wantErr: `invalid SHUTDOWN_TIMEOUT "-1s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig() error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig(): %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("loadConfig() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
