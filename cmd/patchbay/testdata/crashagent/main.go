// Command crashagent stands for a signed agent release that crashes before
// its main runs (a panic in a package's init), so it can never put the
// previous binary back itself: the agent unit's ExecStartPre= guard must.
package main

func init() {
	panic("crashagent: broken release, crashing before main")
}

func main() {}
