"""Channel-neutral core: events, replies, sessions, the flow dispatcher, i18n."""
