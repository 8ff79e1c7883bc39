# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - Several files can be given separated by C(:) (C(;) on Windows); they are merged as kubectl merges E(KUBECONFIG).
      - Without it, I(context) and credentials with I(host), the in-cluster service account is used when the module runs in a pod,
        else E(KUBECONFIG) or C(~/.kube/config).
      - Credentials found in the kubeconfig are masked in the module's results, also when the task fails before connecting
        or its arguments do not validate - every user's token, password and client key (as written and decoded), the tokens
        and client secret of an auth-provider, secret-looking exec environment values, and the password in a proxy URL.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example C(https://api.example.com:6443). Can also be set with E(K8S_AUTH_HOST).
      - With I(api_key), I(username) and I(password), or I(client_cert) and I(client_key), no kubeconfig is read.
    type: str
  api_key:
    description:
      - Bearer token for the API server. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for HTTP basic authentication, for clusters configured to accept it. Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Can also be set with E(K8S_AUTH_VERIFY_SSL) or E(K8S_AUTH_VALIDATE_CERTS).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate bundle for the API server. Can also be set with E(K8S_AUTH_SSL_CA_CERT) or E(K8S_AUTH_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate. Can also be set with E(K8S_AUTH_CERT_FILE) or E(K8S_AUTH_CLIENT_CERT).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the client certificate's key. Can also be set with E(K8S_AUTH_KEY_FILE) or E(K8S_AUTH_CLIENT_KEY).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy (C(http://[user:password@]host:port)) for API requests and uploads; HTTPS goes through a CONNECT tunnel.
      - The usual C(HTTP_PROXY) variables are not read. Can also be set with E(K8S_AUTH_PROXY).
      - Its password is masked in the module's results.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains (C(.example.com)), IP addresses and CIDR ranges reached without I(proxy); C(*) for all.
      - Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers sent to the HTTP proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - Colon-separated C(username:password) for the proxy's basic authentication (C(Proxy-Authorization)).
          - Can also be set with E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - Colon-separated C(username:password) for a basic C(Authorization) header to the proxy.
          - Can also be set with E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - The C(User-Agent) sent to the proxy, such as C(foo/1.0). Can also be set with E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Whether to save refreshed tokens of a kubeconfig user with an C(auth-provider) (OIDC and the like) back to the kubeconfig file.
      - Can also be set with E(K8S_AUTH_PERSIST_CONFIG). Default false.
    type: bool
  impersonate_user:
    description:
      - User name to act as (the C(Impersonate-User) header). Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to act as (one C(Impersonate-Group) header each). Can also be set with E(K8S_AUTH_IMPERSONATE_GROUPS), for example C(Group1,Group2).
    type: list
    elements: str
requirements:
  - python >= 3.11
  - PyYAML (comes with ansible-core)
  - the kubernetes Python library, only for kubeconfig users with C(exec) or C(auth-provider) credentials and for the in-cluster service account
notes:
  - The options and environment variables are those of C(kubernetes.core), so AWX / AAP Kubernetes credentials and copied C(k8s) auth blocks work unchanged.
  - For the modules, set them once with C(module_defaults) and the action group C(group/deckhouse.virtualization.dvp);
    the inventory plugin takes them in its source file.
  - The C(tls-server-name) field of a kubeconfig cluster is not used; the certificate must match the server's host name.
"""
