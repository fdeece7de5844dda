# revert-guest (Windows): restore the WinRM state prepare-guest recorded (listener, firewall rule, service).
# Idempotent: without a recorded state it changes nothing. Reads $env:SSM_MigrationId. Last stdout line: JSON.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$migrationId = "$env:SSM_MigrationId"
if ($migrationId -notmatch '^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$') { throw 'MigrationId is missing or malformed' }
# Scope: all | access. Windows has only access changes (WinRM), so both restore the same state.
$scope = if ($env:SSM_Scope) { "$env:SSM_Scope" } else { 'all' }
if ($scope -notmatch '^(all|access)$') { throw 'Scope must be all or access' }

$stateFile = Join-Path (Join-Path $env:ProgramData 'ec2-to-azure') 'winrm-original.json'
$changed = @()
if (Test-Path $stateFile) {
    $original = Get-Content -Path $stateFile -Raw | ConvertFrom-Json
    if (-not $original.http_listener) {
        Get-ChildItem -Path WSMan:\localhost\Listener -ErrorAction SilentlyContinue |
            Where-Object { $_.Keys -contains 'Transport=HTTP' } |
            ForEach-Object { Remove-Item -Path $_.PSPath -Recurse -Force; $changed += 'winrm_http_listener_removed' }
    }
    if ($original.firewall_rule -eq 'absent') {
        Remove-NetFirewallRule -Name 'WINRM-HTTP-In-TCP' -ErrorAction SilentlyContinue
        $changed += 'winrm_firewall_rule_removed'
    } elseif ($original.firewall_rule -ne 'True') {
        Disable-NetFirewallRule -Name 'WINRM-HTTP-In-TCP'
        $changed += 'winrm_firewall_rule_disabled'
    }
    if ($original.service_status -ne 'Running') { Stop-Service -Name WinRM -Force; $changed += 'winrm_stopped' }
    if ($original.service_start_type -and $original.service_start_type -ne 'Automatic') {
        Set-Service -Name WinRM -StartupType $original.service_start_type
        $changed += 'winrm_start_type_restored'
    }
    Remove-Item -Path $stateFile -Force
}

[ordered]@{ script = 'revert-guest-windows'; migration_id = $migrationId; scope = $scope; changed = @($changed) } |
    ConvertTo-Json -Compress
