// Package storetest fills a store with a large, realistic fleet quickly,
// for benchmarks and tests of read paths (the KPI report, console pages).
// It is not for production code.
//
// Load writes through store.LoadFleet: the same rows enrollment, full
// check-ins, matching, reconciliation and scoring leave (hosts, labels,
// packages, updates, match results, findings with their history, report
// rows), batch by batch in a few large transactions instead of tens of
// thousands of small ones. 10,000 hosts × 100 packages × 20 findings over
// a year load in about a minute on SQLite on 2 cores.
package storetest
