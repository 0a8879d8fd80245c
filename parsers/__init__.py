"""Input formats. Each module registers one or more parsers with forensics.registry.register;
modules are discovered by import (see forensics.registry.load_parsers)."""
