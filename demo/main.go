// A service as small as they come: what matters is how the Dockerfile
// builds it for each platform.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("hello from %s/%s\n", runtime.GOOS, runtime.GOARCH)
}
