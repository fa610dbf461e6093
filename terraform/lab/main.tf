# The lab substrate as a Terraform/OpenTofu root module.
#
# It uses only built-ins (terraform_data and local-exec provisioners), so it works with no
# provider downloads: the create-time provisioner brings the lab up through sovplatform's
# lab code and the destroy-time provisioner removes every trace of it. Its `hosts` output is
# the contract every substrate kind shares: name, site, address, ssh user, port and key path.

terraform {
  required_version = ">= 1.4.0"
}

variable "spec_file" {
  description = "Lab specification (JSON) written by sovplatform from the plan"
  type        = string
}

variable "state_dir" {
  description = "The platform's state directory; the lab keeps keys, disks and roots under it"
  type        = string
}

variable "python" {
  description = "Python interpreter that has sovplatform installed"
  type        = string
}

locals {
  spec = jsondecode(file(var.spec_file))
}

resource "terraform_data" "lab" {
  # Replaced (down, then up) only when the specification itself changes.
  triggers_replace = [filesha256(var.spec_file)]

  input = {
    python    = var.python
    spec_file = var.spec_file
    state_dir = var.state_dir
  }

  provisioner "local-exec" {
    command = "'${self.input.python}' -m sovplatform.substrate.lab up --spec '${self.input.spec_file}' --state-dir '${self.input.state_dir}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "'${self.input.python}' -m sovplatform.substrate.lab down --spec '${self.input.spec_file}' --state-dir '${self.input.state_dir}'"
  }
}

output "hosts" {
  description = "One entry per host: name, site, address, ssh_user, ssh_port, ssh_key"
  value = [
    for h in local.spec.hosts : {
      name     = h.name
      site     = h.site
      address  = h.management_address
      ssh_user = local.spec.ssh_user
      ssh_port = 22
      ssh_key  = "${var.state_dir}/ssh/id_ed25519"
    }
  ]
  depends_on = [terraform_data.lab]
}
