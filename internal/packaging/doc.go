// Package packaging builds the agent's deb, rpm and apk packages with nfpm
// used as a library: the lean patchbay-agent binary, its systemd unit, its
// configuration file with the server URL and enrollment token baked in,
// the hooks file template and the maintainer scripts that enable the
// service on a running host and leave image roots alone.
//
// It is not an installer: it writes one package file and touches nothing
// else. The configuration it writes is parsed back with the agent's own
// strict parser before the package is built, so a package never ships a
// file its agent would refuse.
package packaging
