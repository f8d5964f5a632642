// Command kind-check decodes a kind cluster configuration the way kind reads it: strictly (an unknown or misspelt
// field is an error) into kind's own v1alpha4 types, with the kind and apiVersion kind requires. It prints the node
// ports the file maps to the host as "containerPort hostPort listenAddress" lines, for the caller to check.
// tests/deploy/kind-files-test builds and runs it, since kind itself cannot run here.
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kind-check CLUSTER.yaml")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		fmt.Fprintf(os.Stderr, "%s: kind %q apiVersion %q, want Cluster kind.x-k8s.io/v1alpha4\n", os.Args[1], c.Kind, c.APIVersion)
		os.Exit(1)
	}
	planes := 0
	for _, n := range c.Nodes {
		if n.Role == v1alpha4.ControlPlaneRole {
			planes++
		} else if n.Role != v1alpha4.WorkerRole {
			fmt.Fprintf(os.Stderr, "%s: node role %q\n", os.Args[1], n.Role)
			os.Exit(1)
		}
		for _, m := range n.ExtraPortMappings {
			fmt.Printf("%d %d %s\n", m.ContainerPort, m.HostPort, m.ListenAddress)
		}
	}
	if planes < 1 {
		fmt.Fprintf(os.Stderr, "%s: no control-plane node\n", os.Args[1])
		os.Exit(1)
	}
}
