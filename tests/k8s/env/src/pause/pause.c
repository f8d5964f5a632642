/*
 * pause: the sandbox ("infra") container of every Pod on the k8s test env's
 * real kubelet node. It holds the Pod's namespaces open, reaps the zombies
 * that land on it as PID 1 of a shared PID namespace, and exits 0 on SIGINT
 * or SIGTERM. No registry is reachable here, so `build --kubelet` compiles
 * this statically and packs it into an OCI image instead of pulling
 * registry.k8s.io/pause. Single-threaded; does what upstream's pause.c does.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
	/* 128 + signal would report a failure; a stopped sandbox is not one. */
	(void)sig;
	_exit(0);
}

static void on_child(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	struct sigaction stop = { .sa_handler = on_stop };
	struct sigaction child = { .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART };

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("pause (ecsd k8s test env)");
		return 0;
	}
	if (getpid() != 1)
		fputs("pause: warning: not PID 1, zombies of this namespace are not reaped here\n", stderr);
	if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
	    sigaction(SIGCHLD, &child, NULL) < 0) {
		perror("pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
