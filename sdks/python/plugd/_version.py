__version__ = "0.1.0"
#: The protocol this SDK speaks; only the major number must match the host's.
PROTOCOL_VERSION = "1.0"
SDK_NAME = "plugd-python"
