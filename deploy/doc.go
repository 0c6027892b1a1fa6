// Package deploy holds the files that install the Patchbay server on a
// host: its systemd unit and an example configuration, embedded so that
// `patchbay server unit` and `patchbay server example-config` print
// exactly what the repository ships. It holds no logic.
package deploy

import _ "embed"

// ServerUnit is the systemd unit of the control server.
//
//go:embed patchbay-server.service
var ServerUnit string

// ServerConfig is an example /etc/patchbay/server.yaml.
//
//go:embed server.yaml
var ServerConfig string
