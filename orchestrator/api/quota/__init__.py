"""ResourceQuota's arithmetic, shared by the admission plugin (charging a request) and the
quota controller (recounting a namespace): what each object charges (`evaluators`, `pods`),
the admission check with kube's messages (`check`) and the recount (`usage`). No I/O."""
