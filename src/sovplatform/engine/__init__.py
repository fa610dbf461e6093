"""Engine: the side-effecting edge that drives Terraform and Ansible, with a journal and a lock."""
