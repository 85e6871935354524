"""RMN LoRA Admin Console: the Django project (settings, auth, queues, console shell)."""
