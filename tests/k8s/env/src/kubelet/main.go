// Command kubelet is upstream's cmd/kubelet/kubelet.go, built through this
// wrapper module for the same reason as kube-apiserver: k8s.io/kubernetes
// cannot be `go install`ed (its go.mod replaces the staging modules by local
// paths). Only the env's kubelet mode (`up --kubelet`) runs it.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	command := app.NewKubeletCommand()
	code := cli.Run(command)
	os.Exit(code)
}
