"""The control node's tools (`banwatch policy | keys | wheelhouse | reports`): the policy source,
the effective policy of each host, signed builds, Ansible inventories and the device bundle."""
