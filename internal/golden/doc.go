// Package golden is test support: it compares what a test produced with a
// reviewed file in testdata, and rewrites the file instead when the test
// runs with -update, so a change of output shows as a diff in review.
//
// It is not for the product: only _test.go files import it. The caller owns
// its -update flag and passes its value.
package golden
