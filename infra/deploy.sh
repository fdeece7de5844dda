#!/usr/bin/env bash
# Deploy one environment end to end: Azure (Bicep), AWS (SAM), then the Function App code.
#
#   infra/deploy.sh dev|test|prod             deploy (the deploy plan runs first and stops it on any problem)
#   infra/deploy.sh dev|test|prod --dry-run   only the deploy plan: everything but the cloud calls
#                                             (same as `make deploy-plan ENV=...`)
#
# The plan (infra/tools/deploy_plan.py) builds the SSM documents and the Lambda package, imports every handler
# from the package, transforms the SAM template, resolves the environment's samconfig.toml section and
# .bicepparam, and prints what would be deployed. It needs .venv and .venv-infra (`make venv infra-venv`).
#
# Needs: az (logged in, subscription selected), sam + AWS credentials, python3, zip; func (Azure Functions Core
# Tools) is used for Flex Consumption publishing when present. Settings come from the environment:
#   AZURE_RESOURCE_GROUP  resource group of the environment      (default: ec2mig-<env>)
#   AZURE_LOCATION        region for the resource group         (default: westeurope)
#   OWNER                 owner tag                             (default: platform-team)
#   OPERATOR_API_CLIENT_ID  client id of the operator API's app registration (required; read by <env>.bicepparam)
#   SKIP_CODE=1           deploy infrastructure only
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly PROJECT_PREFIX="ec2mig"

die() { echo "deploy.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

usage() {
  echo "usage: $0 dev|test|prod [--dry-run]" >&2
  exit 2
}

require() {
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null 2>&1 || die "'${tool}' is not installed or not on PATH (see docs/deploy.md)"
  done
}

[[ $# -eq 1 || ($# -eq 2 && "$2" == "--dry-run") ]] || usage
readonly ENV_NAME="$1"
DRY_RUN=0
[[ $# -eq 2 ]] && DRY_RUN=1
readonly DRY_RUN
case "${ENV_NAME}" in
  dev | test | prod) ;;
  *) die "unknown environment '${ENV_NAME}': expected dev, test or prod" ;;
esac

# The plan: everything except the cloud calls. A dry run stops after it; a deployment goes on only if it passed.
plan() {
  local infra_python="${REPO_ROOT}/.venv-infra/bin/python" runtime_python="${REPO_ROOT}/.venv/bin/python"
  [[ -x "${infra_python}" && -x "${runtime_python}" ]] || die "the deploy plan needs .venv and .venv-infra: run make venv infra-venv"
  "${infra_python}" "${SCRIPT_DIR}/tools/deploy_plan.py" "${ENV_NAME}" --runtime-python "${runtime_python}"
}
if [[ "${DRY_RUN}" == "1" ]]; then
  plan
  exit 0
fi

require az sam aws python3 zip
log "plan for ${ENV_NAME} (no cloud calls)"
plan >&2
readonly RESOURCE_GROUP="${AZURE_RESOURCE_GROUP:-${PROJECT_PREFIX}-${ENV_NAME}}"
readonly LOCATION="${AZURE_LOCATION:-westeurope}"
readonly OWNER_TAG="${OWNER:-platform-team}"
readonly PARAM_FILE="${SCRIPT_DIR}/azure/${ENV_NAME}.bicepparam"
readonly BUILD_DIR="${REPO_ROOT}/build"
[[ -f "${PARAM_FILE}" ]] || die "missing ${PARAM_FILE}"
# The .bicepparam reads it (operatorApiClientId, App Service authentication of the HTTP API): stop before any change.
[[ -n "${OPERATOR_API_CLIENT_ID:-}" ]] ||
  die "OPERATOR_API_CLIENT_ID is not set: the application (client) ID of the operator API's app registration (docs/deploy.md 1.8)"

az account show --output none 2>/dev/null || die "az is not logged in (az login / azure/login in CI)"
AWS_REGION_NAME="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))[sys.argv[2]]["deploy"]["parameters"]["region"])' "${SCRIPT_DIR}/aws/samconfig.toml" "${ENV_NAME}")"
AWS_ACCOUNT_ID="$(aws sts get-caller-identity --region "${AWS_REGION_NAME}" --query Account --output text 2>/dev/null)" ||
  die "no AWS credentials (aws configure / aws-actions/configure-aws-credentials in CI)"
readonly AWS_ACCOUNT_ID AWS_REGION_NAME
mkdir -p "${BUILD_DIR}"

# --- 1. Azure -------------------------------------------------------------------------------------------------
log "Azure: resource group ${RESOURCE_GROUP} (${LOCATION})"
az group create --name "${RESOURCE_GROUP}" --location "${LOCATION}" \
  --tags "environment=${ENV_NAME}" "owner=${OWNER_TAG}" "project=${PROJECT_PREFIX}" --output none

# The AWS role name is fixed by the SAM template, so its ARN is known before the AWS stack exists.
export AWS_INVOKER_ROLE_ARN="arn:aws:iam::${AWS_ACCOUNT_ID}:role/${PROJECT_PREFIX}-${ENV_NAME}-azure-invoker"
log "Azure: deploying main.bicep with ${ENV_NAME}.bicepparam"
az deployment group create \
  --name "${PROJECT_PREFIX}-${ENV_NAME}-$(date -u +%Y%m%d%H%M%S)" \
  --resource-group "${RESOURCE_GROUP}" \
  --template-file "${SCRIPT_DIR}/azure/main.bicep" \
  --parameters "${PARAM_FILE}" \
  --parameters "owner=${OWNER_TAG}" \
  --query properties.outputs --output json >"${BUILD_DIR}/azure-outputs-${ENV_NAME}.json"

output() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["value"])' \
    "${BUILD_DIR}/azure-outputs-${ENV_NAME}.json" "$1"
}
FUNCTION_APP="$(output functionAppName)"
HOSTING_PLAN="$(output hostingPlan)"
PRINCIPAL_ID="$(output managedIdentityPrincipalId)"
TENANT_ID="$(output tenantId)"
DEPLOYMENT_CONTAINER_URL="$(output deploymentContainerUrl)"
readonly FUNCTION_APP HOSTING_PLAN PRINCIPAL_ID TENANT_ID DEPLOYMENT_CONTAINER_URL
FEDERATION_AUDIENCE="$(grep -E "^param awsFederationAudience" "${PARAM_FILE}" | sed -E "s/.*= *'([^']+)'.*/\1/")"
readonly FEDERATION_AUDIENCE
[[ -n "${FEDERATION_AUDIENCE}" ]] || die "awsFederationAudience is not set in ${PARAM_FILE}"

# --- 2. AWS ---------------------------------------------------------------------------------------------------
log "AWS: SSM documents from the guest scripts"
python3 "${SCRIPT_DIR}/aws/build_ssm_documents.py"

# The package the plan checked (make lambda-package): aws_lambdas/ with its guest scripts, shared/, and the
# Lambdas' pinned requirements.txt that `sam build` installs. The template's CodeUri points at it.
log "AWS: building the Lambda package (build/lambda_src)"
python3 "${SCRIPT_DIR}/tools/lambda_package.py" build --output "${BUILD_DIR}/lambda_src" >/dev/null

# sam replaces parameter_overrides from samconfig.toml when given on the command line: merge them.
SAM_OVERRIDES="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))[sys.argv[2]]["deploy"]["parameters"]["parameter_overrides"])' "${SCRIPT_DIR}/aws/samconfig.toml" "${ENV_NAME}")"
readonly SAM_OVERRIDES
read -r -a OVERRIDES <<<"${SAM_OVERRIDES}"
OVERRIDES+=(
  "Owner=${OWNER_TAG}"
  "EntraTenantId=${TENANT_ID}"
  "AzureFederationAudience=${FEDERATION_AUDIENCE}"
  "AzureManagedIdentityPrincipalId=${PRINCIPAL_ID}"
)

log "AWS: sam build && sam deploy --config-env ${ENV_NAME}"
(
  cd "${SCRIPT_DIR}/aws"
  sam build --config-env "${ENV_NAME}"
  sam deploy --config-env "${ENV_NAME}" --no-progressbar --parameter-overrides "${OVERRIDES[@]}"
)

# --- 3. Function App code -------------------------------------------------------------------------------------
if [[ "${SKIP_CODE:-0}" == "1" ]]; then
  log "SKIP_CODE=1: infrastructure only"
  exit 0
fi

readonly PACKAGE="${BUILD_DIR}/${PROJECT_PREFIX}-${ENV_NAME}-func.zip"
rm -f "${PACKAGE}"
(
  cd "${REPO_ROOT}"
  zip -q -r "${PACKAGE}" function_app.py host.json requirements.txt functions shared \
    -x '*/__pycache__/*' '*.pyc'
)

if [[ "${HOSTING_PLAN}" == "FlexConsumption" ]]; then
  log "Function App: publishing to ${FUNCTION_APP} (Flex Consumption, remote build)"
  if command -v func >/dev/null 2>&1; then
    (cd "${REPO_ROOT}" && func azure functionapp publish "${FUNCTION_APP}" --python --build remote)
  else
    az functionapp deployment source config-zip --resource-group "${RESOURCE_GROUP}" --name "${FUNCTION_APP}" \
      --src "${PACKAGE}" --build-remote true --output none
  fi
else
  # Elastic Premium runs from the package blob (WEBSITE_RUN_FROM_PACKAGE, fetched with the managed identity):
  # dependencies are vendored for Linux x86_64 / CPython 3.11 because nothing builds on the server.
  log "Function App: uploading the package for ${FUNCTION_APP} (Elastic Premium, run from package)"
  readonly SITE_PACKAGES="${BUILD_DIR}/func_deps/.python_packages/lib/site-packages"
  rm -rf "${BUILD_DIR}/func_deps"
  python3 -m pip install --quiet --target "${SITE_PACKAGES}" --platform manylinux2014_x86_64 \
    --python-version 3.11 --implementation cp --only-binary=:all: -r "${REPO_ROOT}/requirements.txt"
  (cd "${BUILD_DIR}/func_deps" && zip -q -r "${PACKAGE}" .python_packages)
  az storage blob upload --auth-mode login --overwrite \
    --blob-url "${DEPLOYMENT_CONTAINER_URL}/${PROJECT_PREFIX}-${ENV_NAME}-func.zip" --file "${PACKAGE}" --output none
  az functionapp restart --resource-group "${RESOURCE_GROUP}" --name "${FUNCTION_APP}" --output none
fi

log "done: ${ENV_NAME} deployed (Function App ${FUNCTION_APP}, AWS stack ${PROJECT_PREFIX}-${ENV_NAME})"
