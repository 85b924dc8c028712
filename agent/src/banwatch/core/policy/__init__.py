"""The policy contract: the model of a ban list and its exemptions, the signed payload a device
gets, and the one check a device (and `banwatch policy verify`) applies to it."""
