"""surge's local Lambda runtime: drives a SAM template's functions the way Lambda's event sources do."""
