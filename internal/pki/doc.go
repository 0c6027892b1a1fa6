// Package pki creates and loads the server's certificate authority, issues
// the server certificate and the agents' short-lived client certificates,
// and makes agent key pairs and certificate requests.
//
// It is not for deciding who may have a certificate: the server checks the
// enrollment token and the host's state before it calls Sign. Private keys
// are written 0600 and never leave the machine that made them.
package pki
