"""The cloud adapters of the function app, with their SDK clients stubbed (no cloud is reachable here)."""

import io
import json
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.stub import Stubber

from functions.gateways.aws_lambda import WebIdentityLambdaInvoker
from functions.gateways.events import ServiceBusEventPublisher
from functions.settings import FunctionAppSettings
from shared.aws_contracts import InstanceNotFoundError, ThrottlingError
from shared.errors import AccessDeniedError, NotFoundError, PermanentError, TransientError
from shared.pipeline import EventType, MigrationEvent

SETTINGS = FunctionAppSettings(lambda_prefix="ec2-to-azure-test-", aws_region="eu-west-1")


@pytest.fixture
def lambda_client():
    import boto3

    client = boto3.client("lambda", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber


def _payload(body) -> dict:
    return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


def test_invoke_names_the_function_from_the_prefix_and_returns_the_result(lambda_client):
    client, stubber = lambda_client
    stubber.add_response(
        "invoke",
        _payload({"created": [], "pre_existing": [], "skipped": []}),
        {"FunctionName": "ec2-to-azure-test-prepare-network", "Payload": mock.ANY},
    )
    answer = WebIdentityLambdaInvoker(SETTINGS, client=client).invoke("prepare_network", {"migration_id": "m"})
    assert answer == {"created": [], "pre_existing": [], "skipped": []}


def test_a_failed_lambda_comes_back_as_its_typed_error(lambda_client):
    client, stubber = lambda_client
    error = InstanceNotFoundError(
        "instance i-0abc does not exist", code="InvalidInstanceID.NotFound", resource="i-0abc"
    )
    response = _payload({"errorType": "InstanceNotFoundError", "errorMessage": json.dumps(error.to_dict())})
    response["FunctionError"] = "Unhandled"
    stubber.add_response("invoke", response)
    with pytest.raises(InstanceNotFoundError) as caught:
        WebIdentityLambdaInvoker(SETTINGS, client=client).invoke("inventory", {})
    assert caught.value.resource == "i-0abc" and isinstance(caught.value, NotFoundError)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("TooManyRequestsException", 429, TransientError),
        ("ServiceException", 500, TransientError),
        ("AccessDeniedException", 403, AccessDeniedError),
        ("ResourceNotFoundException", 404, NotFoundError),
        ("InvalidRequestContentException", 400, PermanentError),
    ],
)
def test_invoke_errors_are_classified(lambda_client, code, status, expected):
    client, stubber = lambda_client
    stubber.add_client_error("invoke", service_error_code=code, http_status_code=status)
    with pytest.raises(expected) as caught:
        WebIdentityLambdaInvoker(SETTINGS, client=client).invoke("stop_source", {})
    assert caught.value.resource == "ec2-to-azure-test-stop-source"
    assert caught.value.transient is (expected is TransientError)


def test_throttling_inside_the_lambda_stays_transient(lambda_client):
    client, stubber = lambda_client
    error = ThrottlingError("Rate exceeded", code="RequestLimitExceeded")
    response = _payload({"errorType": "ThrottlingError", "errorMessage": json.dumps(error.to_dict())})
    response["FunctionError"] = "Unhandled"
    stubber.add_response("invoke", response)
    with pytest.raises(TransientError):
        WebIdentityLambdaInvoker(SETTINGS, client=client).invoke("command_status", {})


def test_credentials_come_from_web_identity_with_the_entra_token():
    """No AWS keys: the invoker exchanges the managed identity's token with STS for the configured role."""
    settings = SETTINGS.model_copy(update={"aws_role_arn": "arn:aws:iam::123456789012:role/invoker"})
    credential = mock.Mock()
    credential.get_token.return_value = mock.Mock(token="entra-token")
    invoker = WebIdentityLambdaInvoker(settings, credential=credential)
    provider = invoker._web_identity_credentials()
    with mock.patch("botocore.client.BaseClient._make_api_call") as call:
        call.return_value = {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "x",
                "SessionToken": "y",
                "Expiration": datetime(2030, 1, 1, tzinfo=UTC),
            },
            "AssumedRoleUser": {"AssumedRoleId": "id", "Arn": "arn"},
        }
        frozen = provider.get_frozen_credentials()
    operation, params = call.call_args.args
    assert operation == "AssumeRoleWithWebIdentity"
    assert params["RoleArn"] == "arn:aws:iam::123456789012:role/invoker"
    assert params["WebIdentityToken"] == "entra-token"
    credential.get_token.assert_called_once_with("api://AzureADTokenExchange/.default")
    assert frozen.access_key == "ASIAEXAMPLE"


def test_no_role_configured_is_a_clear_permanent_error():
    with pytest.raises(PermanentError, match="AWS_ROLE_ARN is not set"):
        WebIdentityLambdaInvoker(SETTINGS)._web_identity_credentials()


def _event(n: int) -> MigrationEvent:
    return MigrationEvent(
        event_id=f"vm-w-i-1:{n}",
        type=EventType.VM_STATE_CHANGED,
        request_id="w",
        orchestration_id="vm-w-i-1",
        state="preflight",
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_events_go_to_the_topic_with_the_event_id_as_message_id():
    client = mock.MagicMock()
    sender = client.get_topic_sender.return_value.__enter__.return_value
    ServiceBusEventPublisher(SETTINGS, client=client).publish([_event(1), _event(2)])
    client.get_topic_sender.assert_called_once_with("migration-events")
    (messages,) = sender.send_messages.call_args.args
    assert [m.message_id for m in messages] == ["vm-w-i-1:1", "vm-w-i-1:2"]
    assert json.loads(str(messages[0]))["state"] == "preflight"
    assert messages[0].subject == "vm.state_changed"


def test_a_retryable_service_bus_error_is_transient():
    from azure.servicebus.exceptions import ServiceBusConnectionError

    client = mock.MagicMock()
    client.get_topic_sender.return_value.__enter__.return_value.send_messages.side_effect = ServiceBusConnectionError(
        message="link detached"
    )
    with pytest.raises(TransientError):
        ServiceBusEventPublisher(SETTINGS, client=client).publish([_event(1)])


def test_settings_come_from_app_settings_and_name_a_bad_one():
    deployment = {
        "MIGRATION_ENVIRONMENT": "prod",
        "SITE_RECOVERY_RESOURCE_GROUP": "rg-migration",
        "SITE_RECOVERY_VAULT_NAME": "mig-vault",
    }
    settings = FunctionAppSettings.from_env(
        {
            **deployment,
            "AWS_LAMBDA_FUNCTION_PREFIX": "ec2-to-azure-prod-",
            "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
            "EC2AZ_TIMINGS": '{"job_first_poll": 30}',
        }
    )
    assert settings.lambda_prefix == "ec2-to-azure-prod-" and settings.timings.job_first_poll == 30
    from shared.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="EC2AZ_BATCH_SIZE"):
        FunctionAppSettings.from_env({**deployment, "EC2AZ_BATCH_SIZE": "0"})
    with pytest.raises(InvalidRequestError, match="EC2AZ_TIMINGS: expected a JSON object"):
        FunctionAppSettings.from_env({**deployment, "EC2AZ_TIMINGS": "{"})


def test_retry_policies_serialise_backoff_for_the_durable_extension():
    from functions.retry import AWS_CALL

    assert AWS_CALL.to_json() == {
        "firstRetryIntervalInMilliseconds": 5000,
        "maxNumberOfAttempts": 6,
        "backoffCoefficient": 2.0,
        "maxRetryIntervalInMilliseconds": 120000,
    }


def test_the_queue_trigger_starts_the_registered_wave_orchestrator():
    import function_app  # noqa: F401 - registers the blueprints
    from functions.orchestrators import WAVE_ORCHESTRATOR, migrate_wave

    assert migrate_wave._function._name == WAVE_ORCHESTRATOR
