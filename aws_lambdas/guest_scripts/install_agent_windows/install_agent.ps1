# install-agent (Windows): stage the Mobility agent installer from S3, install it and register it with the
# modernized replication appliance (provider InMageRcm; the classic InMageAzureV2 stack is retired). Commands as
# Microsoft documents them (MicrosoftDocs/azure-docs articles/site-recovery/
# vmware-physical-mobility-service-overview.md, "Install the Mobility service using command prompt
# (Modernized)", and upgrade-mobility-service-modernized.md):
#   Microsoft-ASR_UA*Windows*release.exe /q /x:<dir>
#   UnifiedAgentInstaller.exe (UnifiedAgent.exe in older packages) /Role "MS" /Platform "VmWare" /Silent
#       /CSType CSPrime /InstallLocation "C:\Program Files (x86)\Microsoft Azure Site Recovery"
#   <install dir>\agent\UnifiedAgentConfigurator.exe /SourceConfigFilePath "config.json" /CSType CSPrime
# The configuration file is fetched HERE (Get-SECSecretValue, else the aws CLI) into a file readable only by
# SYSTEM and Administrators in a private temp dir, removed afterwards. An agent already registered is left
# alone. Parameters come from $env:SSM_<Name>. Last stdout line: JSON.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$bucket = "$env:SSM_InstallerBucket"
$key = "$env:SSM_InstallerKey"
$secretId = "$env:SSM_SecretId"
$region = "$env:SSM_Region"
if ($bucket -notmatch '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$') { throw 'InstallerBucket is missing or malformed' }
if ($key -notmatch '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$') { throw 'InstallerKey is missing or malformed' }
if ($secretId -notmatch '^[A-Za-z0-9/_+=.@:-]{1,2048}$') { throw 'SecretId is missing or malformed' }
if ($region -notmatch '^[a-z]{2}(-[a-z]+)+-[0-9]$') { throw 'Region is missing or malformed' }

$installLocation = Join-Path ${env:ProgramFiles(x86)} 'Microsoft Azure Site Recovery'
$configurator = Join-Path $installLocation 'agent\UnifiedAgentConfigurator.exe'
$stateDir = Join-Path $env:ProgramData 'ec2-to-azure'
$registration = Join-Path $stateDir 'agent-registration'
$expected = 'provider=InMageRcm'  # the marker earlier versions wrote too: no needless re-registration

function Write-Result([string]$status, [bool]$installedNow, [bool]$registeredNow) {
    [ordered]@{
        script = 'install-agent-windows'; cs_type = 'CSPrime'; status = $status
        installed_now = $installedNow; registered_now = $registeredNow
    } | ConvertTo-Json -Compress
}

function Invoke-Checked([string]$file, [string[]]$arguments) {
    $process = Start-Process -FilePath $file -ArgumentList $arguments -Wait -PassThru -NoNewWindow
    if ($process.ExitCode -ne 0) { throw "$(Split-Path $file -Leaf) exited with $($process.ExitCode)" }
}

function Get-RegistrationSecret {
    if (Get-Command -Name Get-SECSecretValue -ErrorAction SilentlyContinue) {
        return (Get-SECSecretValue -SecretId $secretId -Region $region).SecretString
    }
    $value = & aws secretsmanager get-secret-value --secret-id $secretId --region $region --query SecretString --output text
    if ($LASTEXITCODE -ne 0) { throw "could not read the registration secret $secretId" }
    return ($value -join "`n")
}

if ((Test-Path $configurator) -and (Test-Path $registration) -and ((Get-Content $registration -Raw) -eq $expected)) {
    Write-Result 'already_registered' $false $false
    exit 0
}

$work = Join-Path $env:TEMP ("ec2-to-azure-" + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $work | Out-Null
$acl = New-Object System.Security.AccessControl.DirectorySecurity
$acl.SetAccessRuleProtection($true, $false)
foreach ($who in @('NT AUTHORITY\SYSTEM', 'BUILTIN\Administrators')) {
    $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule(
        $who, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')))
}
Set-Acl -Path $work -AclObject $acl

$installedNow = $false
try {
    if (-not (Test-Path $configurator)) {
        $installer = Join-Path $work 'MobilityServiceInstaller.exe'
        $extracted = Join-Path $work 'extracted'
        if (Get-Command -Name Read-S3Object -ErrorAction SilentlyContinue) {
            Read-S3Object -BucketName $bucket -Key $key -File $installer -Region $region | Out-Null
        } else {
            & aws s3 cp "s3://$bucket/$key" $installer --region $region --only-show-errors
            if ($LASTEXITCODE -ne 0) { throw "could not download s3://$bucket/$key" }
        }
        Invoke-Checked $installer @('/q', "/x:`"$extracted`"")
        $setup = @('UnifiedAgentInstaller.exe', 'UnifiedAgent.exe') |
            ForEach-Object { Join-Path $extracted $_ } | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $setup) { throw 'the installer package has neither UnifiedAgentInstaller.exe nor UnifiedAgent.exe' }
        Invoke-Checked $setup @(
            '/Role', '"MS"', '/Platform', '"VmWare"', '/Silent', '/CSType', 'CSPrime',
            '/InstallLocation', "`"$installLocation`"")
        if (-not (Test-Path $configurator)) { throw "the installer finished but $configurator is missing" }
        $installedNow = $true
    }
    $secretFile = Join-Path $work 'config.json'
    [System.IO.File]::WriteAllText($secretFile, (Get-RegistrationSecret))
    Invoke-Checked $configurator @('/SourceConfigFilePath', "`"$secretFile`"", '/CSType', 'CSPrime')
} finally {
    Remove-Item -Path $work -Recurse -Force -ErrorAction SilentlyContinue
}

New-Item -ItemType Directory -Force -Path $stateDir | Out-Null
Set-Content -Path $registration -Value $expected -NoNewline -Encoding UTF8
Write-Result 'registered' $installedNow $true
