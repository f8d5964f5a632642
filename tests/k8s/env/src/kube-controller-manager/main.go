// Command kube-controller-manager is upstream's
// cmd/kube-controller-manager/controller-manager.go, built through this
// wrapper module for the same reason as kube-apiserver. Only tests that need
// workload controllers (a helm chart's Deployment turned into a Pod, garbage
// collection on uninstall: tests/deploy/helm-kubelet-test) build and run it;
// the env itself never starts it.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	command := app.NewControllerManagerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
