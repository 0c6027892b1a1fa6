package agentcmd

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/agent"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// DefaultStateDir holds the agent's key, certificate and job state.
const DefaultStateDir = "/var/lib/patchbay/agent"

// Environment variables the agent reads; each overrides the file's key and
// is overridden by the flag of the same meaning.
const (
	EnvConfig          = "PATCHBAY_AGENT_CONFIG"
	EnvServer          = "PATCHBAY_SERVER"
	EnvCA              = "PATCHBAY_CA"
	EnvEnrollToken     = "PATCHBAY_ENROLL_TOKEN"
	EnvLabels          = "PATCHBAY_LABELS" // k=v,k=v
	EnvCheckinInterval = "PATCHBAY_CHECKIN_INTERVAL"
	EnvStateDir        = "PATCHBAY_STATE_DIR"
	EnvHooks           = "PATCHBAY_HOOKS"
)

// flagValues are the agent's flags as parsed.
type flagValues struct {
	config, server, ca, enrollToken, stateDir, root, hooks string
	labels                                                 []string
	once, noJobs                                           bool
	interval                                               time.Duration
	reboot, restart                                        []string
	selfUpdatable                                          bool // the lean binary: watch a self-update's trial
	releaseKey                                             string
}

// New returns the agent command named use ("agent" under patchbay,
// "patchbay-agent" on its own). Logs go to log.
func New(use string, log *slog.Logger) *cobra.Command {
	cmd, _ := newCommand(use, log)
	return cmd
}

// newCommand is New, also returning where the flags are parsed to.
func newCommand(use string, log *slog.Logger) (*cobra.Command, *flagValues) {
	f := &flagValues{}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Run the agent: enroll this host, then report its inventory and run signed jobs",
		Long: `Run the agent: enroll this host, then report its inventory and run signed jobs.

Settings come from the configuration file (--config, default ` + agent.DefaultConfigPath + `),
then the environment (` + strings.Join([]string{EnvServer, EnvCA, EnvEnrollToken, EnvLabels, EnvCheckinInterval, EnvStateDir, EnvHooks}, ", ") + `),
then the flags: a flag wins over the environment, the environment over the file.
An enrollment token read from the file is removed from it once the host is enrolled.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := resolve(cmd.Flags(), *f, os.Getenv)
			if err != nil {
				return err
			}
			return Run(cmd.Context(), log, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", agent.DefaultConfigPath, "configuration file (env "+EnvConfig+"); a missing file at the default path means none")
	fl.StringVar(&f.server, "server", "", "server URL, https://host:port (env "+EnvServer+", file: server)")
	fl.StringVar(&f.ca, "ca", "", "trust this CA certificate instead of the token's fingerprint (env "+EnvCA+", file: ca_file)")
	fl.StringVar(&f.enrollToken, "enroll-token", "", "enrollment token, needed for the first run only (env "+EnvEnrollToken+", file: enroll_token)")
	fl.StringArrayVar(&f.labels, "label", nil, "host label key=value, repeatable (env "+EnvLabels+" as k=v,k=v; file: labels)")
	fl.StringVar(&f.stateDir, "state-dir", DefaultStateDir, "directory for the agent's key, certificate and state (env "+EnvStateDir+", file: state_dir)")
	fl.StringVar(&f.root, "root", "/", "read (and for jobs, change) the host image mounted here")
	fl.BoolVar(&f.once, "once", false, "check in once, run pending jobs, and exit")
	fl.DurationVar(&f.interval, "interval", 0, "check-in interval (env "+EnvCheckinInterval+", file: checkin_interval; default: the server's)")
	fl.BoolVar(&f.noJobs, "no-jobs", false, "report inventory only; run no jobs")
	fl.StringVar(&f.hooks, "hooks", agent.DefaultHooksPath, "JSON file naming the hooks and health checks jobs may run (name → argv); missing: none (env "+EnvHooks+", file: hooks)")
	fl.StringSliceVar(&f.reboot, "reboot-command", []string{"/usr/bin/systemctl", "reboot"}, "command that reboots the host (argv, comma-separated)")
	fl.StringSliceVar(&f.restart, "restart-command", agent.DefaultRestartCommand, "command that restarts services (argv, comma-separated); restart_services jobs append -- and the units this host's needrestart or needs-restarting reports")
	return cmd, f
}

// resolve merges the configuration file, the environment and the flags:
// for each setting the flag when given, else the environment variable when
// set, else the file's key, else the default.
func resolve(fl *pflag.FlagSet, f flagValues, getenv func(string) string) (Options, error) {
	o := Options{Root: f.root, Once: f.once, NoJobs: f.noJobs, RebootCommand: f.reboot, RestartCommand: f.restart, SelfUpdatable: f.selfUpdatable, ReleaseKey: f.releaseKey}

	path, explicit := f.config, fl.Changed("config")
	if !explicit && getenv(EnvConfig) != "" {
		path, explicit = getenv(EnvConfig), true
	}
	var file agent.FileConfig
	if path != "" {
		c, err := agent.LoadConfigFile(path)
		switch {
		case err == nil:
			file, o.ConfigFile = c, path
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// no file at the default path: flags and environment only
		default:
			return o, err
		}
	}

	pick := func(flag, env, fromFile, def string) (string, string) {
		if fl.Changed(flag) {
			return f.flagString(flag), "flag"
		}
		if v := getenv(env); v != "" {
			return v, "env"
		}
		if fromFile != "" {
			return fromFile, "file"
		}
		return def, "default"
	}
	var src string
	o.Server, _ = pick("server", EnvServer, file.Server, "")
	o.CAFile, _ = pick("ca", EnvCA, file.CAFile, "")
	o.EnrollToken, src = pick("enroll-token", EnvEnrollToken, file.EnrollToken, "")
	o.TokenFromFile = src == "file"
	o.StateDir, _ = pick("state-dir", EnvStateDir, file.StateDir, DefaultStateDir)
	o.Hooks, _ = pick("hooks", EnvHooks, file.Hooks, agent.DefaultHooksPath)

	switch {
	case fl.Changed("interval"):
		o.Interval = f.interval
	case getenv(EnvCheckinInterval) != "":
		d, err := time.ParseDuration(getenv(EnvCheckinInterval))
		if err != nil || d <= 0 {
			return o, fmt.Errorf("%s=%q: want a positive duration such as 5m", EnvCheckinInterval, getenv(EnvCheckinInterval))
		}
		o.Interval = d
	default:
		o.Interval = file.CheckinInterval
	}

	switch {
	case fl.Changed("label"):
		l, err := parseLabels(f.labels, "--label")
		if err != nil {
			return o, err
		}
		o.Labels = l
	case getenv(EnvLabels) != "":
		l, err := parseLabels(strings.Split(getenv(EnvLabels), ","), EnvLabels)
		if err != nil {
			return o, err
		}
		o.Labels = l
	default:
		o.Labels = file.Labels
	}

	if o.Server == "" {
		where := "the config file's server key"
		if o.ConfigFile == "" {
			where = "server: in " + agent.DefaultConfigPath
		}
		return o, fmt.Errorf("no server URL: pass --server, set %s, or set %s", EnvServer, where)
	}
	return o, nil
}

func (f flagValues) flagString(name string) string {
	switch name {
	case "server":
		return f.server
	case "ca":
		return f.ca
	case "enroll-token":
		return f.enrollToken
	case "state-dir":
		return f.stateDir
	case "hooks":
		return f.hooks
	}
	return ""
}

// parseLabels reads key=value pairs; where names their source in errors.
func parseLabels(kvs []string, where string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", where, kv)
		}
		out[k] = v
	}
	return out, nil
}
