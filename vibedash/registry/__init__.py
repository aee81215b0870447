"""The registry: database engine and migrations, tables, writes, reads for pages and the CLI, the audit log."""
