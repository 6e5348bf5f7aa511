"""Protocol 2, deletion: its deletion sets (`sets`) and the protocol itself (`protocol`)."""
