"""The report contract: its schema, the text a report may carry on the wire, and the signed
envelope a device seals it in and the fleet opens."""
