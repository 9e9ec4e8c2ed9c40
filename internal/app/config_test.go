package app

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const minimalConfig = `
repo:
  url: file:///srv/migrations.git
fleet:
  instances:
    - {name: a, dsn_env: A_DSN, group: canary}
control:
  dsn_env: SCHEMACANARY_TEST_DSN
`

const fleetYAML = "fleet:\n  instances:\n    - {name: a, dsn_env: A_DSN, group: canary}\n"

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"branch", c.Repo.Branch, "main"},
		{"dir", c.Repo.Dir, "migrations"},
		{"threshold", c.Prediction.Threshold, 0.80},
		{"poll", c.Schedules.Poll, "@every 30s"},
		{"retrain", c.Schedules.Retrain, "@daily"},
		{"listen", c.HTTP.Listen, "127.0.0.1:8080"},
		{"forge", c.Forge.Kind, ForgeLocal},
		{"retention", c.Control.KPIRetention.D(), 720 * time.Hour},
		{"max_file_bytes", c.Repo.MaxFileBytes, int64(1 << 20)},
		{"prediction timeout", c.Prediction.Timeout.D(), 2 * time.Minute},
		{"wave_sample", c.Canary.WaveSample, 20},
		{"revert_window", c.Rollback.RevertWindow, 30 * time.Minute},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		yaml string
		want string // substring of the error
	}{
		{"unknown top-level key", minimalConfig + "bogus: 1\n", "line 9: field bogus not found"},
		{"unknown nested key", "repo:\n  url: x\n  brnach: dev\ncontrol:\n  dsn_env: X\n" + fleetYAML, "line 3: field brnach not found"},
		{"missing url", "control:\n  dsn_env: X\n", "repo.url is required"},
		{"both dsn refs", "repo:\n  url: x\ncontrol:\n  dsn_env: X\n  dsn_file: /f\n", "exactly one of dsn_env and dsn_file"},
		{"no dsn ref", "repo:\n  url: x\n", "exactly one of dsn_env and dsn_file"},
		{"threshold range", minimalConfig + "prediction:\n  threshold: 1.5\n", "outside 0..1"},
		{"bad cron", minimalConfig + "schedules:\n  poll: every now and then\n", "schedules.poll"},
		{"bad forge", minimalConfig + "forge:\n  kind: gitlab\n", "forge.kind \"gitlab\""},
		{"github needs owner", minimalConfig + "forge:\n  kind: github\n  token_env: T\n", "owner and repo are required"},
		{"rollout section checked", minimalConfig + "canary:\n  lock_timeout: 30s\n", "canary.lock_timeout"},
		{"negative wave_sample", minimalConfig + "canary:\n  wave_sample: -1\n", "canary.wave_sample"},
		{"reserved tenant schema", "repo:\n  url: x\ncontrol:\n  dsn_env: X\nfleet:\n  instances:\n    - {name: a, dsn_env: A_DSN, schema: pg_a}\n",
			`fleet.instances[0].schema: schema "pg_a" is reserved`},
		{"bad duration", minimalConfig + "  kpi_retention: 3 days\n", "line 9"},
		{"password in url", "repo:\n  url: https://u:hunter2@example.com/r.git\ncontrol:\n  dsn_env: X\n", "must not embed a password"},
		{"negative max_file_bytes", "repo:\n  url: x\n  max_file_bytes: -1\ncontrol:\n  dsn_env: X\n", "repo.max_file_bytes must be > 0"},
		{"negative prediction timeout", minimalConfig + "prediction:\n  timeout: -5s\n", `duration "-5s" is negative`},
		{"poll twice", "repo:\n  url: x\n  poll: 10s\ncontrol:\n  dsn_env: X\nschedules:\n  poll: '@every 5s'\n", "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseConfigGitHubFromURL(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte("repo:\n  url: https://github.com/acme/db.git\n  token_env: GH\n  poll: 10s\ncontrol:\n  dsn_file: /run/dsn\nforge:\n  kind: github\n" + fleetYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Forge.Owner != "acme" || c.Forge.Repo != "db" || c.Forge.TokenEnv != "GH" || c.Forge.BaseURL != "https://api.github.com/" {
		t.Errorf("forge = %+v", c.Forge)
	}
	if c.Schedules.Poll != "@every 10s" {
		t.Errorf("poll = %q", c.Schedules.Poll)
	}
}
