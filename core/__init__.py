"""Plumbing every app shares: tokens, the operator audit, permissions and groups, the
management API's support (pagination, one exception handler, error shapes) and the
engineering panel's helpers. It imports no app of the product: the registry apps
(`receivers`, `sites`) and the update app (`firmware_updates`) build on it."""
