// Package web serves the Patchbay console: server-rendered html/template
// pages with one embedded stylesheet and one small script, plain forms that
// work without JavaScript, and a little progressive enhancement (a change's
// live rollout progress is polled every two seconds).
//
// It is not the HTTP API (that lives under /api/v1 in package server) and it
// holds no domain logic: everything it shows or changes goes through the
// Backend interface, which package server implements. web never imports
// server.
//
// Key invariants: every route is registered with the permission it needs in
// one table (routes.go) and a request whose route has none is refused; every
// POST carries the session's CSRF token; nothing from the backend is ever
// rendered as trusted HTML, so what agents report stays inert text; every
// response carries a strict Content-Security-Policy with no inline script or
// style.
//
// Sessions live in memory (one process). They end on logout, after 30
// minutes idle or 12 hours in all. The user is loaded through
// Backend.UserByID on every request, so a role change applies at once and a
// user the backend no longer returns is signed out. A session also records
// the user's epoch (User.Epoch) at sign-in; the backend changes the epoch
// when the password changes, which signs out every session started before,
// on every replica, while the session that changed it gets a new ID.
package web
