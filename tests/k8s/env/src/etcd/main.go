// Command etcd is etcd's own server entry point, built through this wrapper
// module because `go install go.etcd.io/etcd/server/v3@...` refuses a module
// whose go.mod carries replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
